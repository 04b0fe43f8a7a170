<?php
// The LegacyMigration example's notes page (GET /legacy/notes) as a PHP page would write it: the
// same query on the same SQLite file, the same markup, byte for byte. The database path comes
// from the FastCGI parameter NOTES_DB.
//
// htmlspecialchars writes ' as &#039;; the Swift page (and Python's markupsafe) write &#39;.
function e(string $text): string {
    return str_replace('&#039;', '&#39;', htmlspecialchars($text, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8'));
}

$db = new SQLite3($_SERVER['NOTES_DB']);
$db->busyTimeout(5000);
$user = trim($_SERVER['HTTP_X_USER'] ?? '');
if ($user === '') {
    $user = 'anonymous';
}
$base = '/legacy';

header('Content-Type: text/html; charset=utf-8');
$result = $db->query('SELECT id, author, text, created FROM notes ORDER BY id');
$items = '';
while ($row = $result->fetchArray(SQLITE3_ASSOC)) {
    $items .= '<li><b>' . e($row['author']) . '</b>: ' . e($row['text']) . "</li>\n";
}
$db->close();
echo '<!doctype html><meta charset="utf-8"><title>Notes (legacy)</title>', "\n",
    "<h1>Notes</h1>\n",
    '<p>Signed in as <b>', e($user), "</b>.</p>\n",
    "<ul>\n", $items, "</ul>\n",
    '<form method="post" action="', e($base), "/notes\">\n",
    '<input name="text" autocomplete="off"> <button>Add note</button>', "\n",
    "</form>\n";
