"""The LegacyMigration example's notes page (GET /legacy/notes) as a Flask view: the same query on
the same SQLite file (NOTES_DB), the same markup, byte for byte.

    NOTES_DB=/path/notes.sqlite3 gunicorn -w 4 -k sync notes_flask:app

html.escape writes ' as &#x27;; the Swift page writes &#39;.
"""
import html
import os
import sqlite3

from flask import Flask, Response, request

app = Flask(__name__)
DATABASE = os.environ["NOTES_DB"]


def e(text):
    return html.escape(text, quote=True).replace("&#x27;", "&#39;")


@app.get("/legacy/notes")
def notes():
    db = sqlite3.connect(DATABASE, timeout=5)
    try:
        rows = db.execute("SELECT id, author, text, created FROM notes ORDER BY id").fetchall()
    finally:
        db.close()
    user = request.headers.get("X-User", "").strip() or "anonymous"
    base = "/legacy"
    items = "".join(f"<li><b>{e(author)}</b>: {e(text)}</li>\n" for _, author, text, _ in rows)
    page = (
        '<!doctype html><meta charset="utf-8"><title>Notes (legacy)</title>\n'
        "<h1>Notes</h1>\n"
        f"<p>Signed in as <b>{e(user)}</b>.</p>\n"
        f"<ul>\n{items}</ul>\n"
        f'<form method="post" action="{e(base)}/notes">\n'
        '<input name="text" autocomplete="off"> <button>Add note</button>\n'
        "</form>\n"
    )
    return Response(page, content_type="text/html; charset=utf-8")
