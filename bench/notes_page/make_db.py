#!/usr/bin/env python3
"""Creates the notes database of the LegacyMigration example with COUNT notes.

    python3 make_db.py PATH COUNT

The schema is NoteStore's (examples/LegacyMigration/App/NoteStore.swift), in WAL mode. The notes
come from a fixed seed, so every run and every size shares the same first notes; their text mixes
plain words with what HTML escaping has to handle (& < > " ') and non-ASCII text, about 140 bytes
each, as people write notes.
"""
import random
import sqlite3
import sys

WORDS = ("the of and to in is it that for on with as was at by this be from or have an are not but "
         "meeting notes review plan budget release deploy server request page cache query form "
         "café naïve résumé Zürich 東京 データ 😀 ✓").split()
MARKUP = ["&", "<b>", "</b>", '"quoted"', "it's", "a < b", "x > y", "R&D", "<script>", "'single'"]
AUTHORS = ["ada", "grace", "linus", "margaret", "dennis", "barbara", "o'brien", "<admin>"]

path, count = sys.argv[1], int(sys.argv[2])
rng = random.Random(13)
db = sqlite3.connect(path)
db.executescript("""
    PRAGMA journal_mode = WAL;
    CREATE TABLE IF NOT EXISTS notes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        author TEXT NOT NULL,
        text TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        action TEXT NOT NULL,
        note_id INTEGER NOT NULL REFERENCES notes(id),
        user TEXT NOT NULL,
        via TEXT NOT NULL,
        at REAL NOT NULL
    );
""")
for index in range(count):
    words = []
    while len(" ".join(words)) < rng.randint(90, 260):
        words.append(rng.choice(MARKUP) if rng.random() < 0.12 else rng.choice(WORDS))
    db.execute("INSERT INTO notes (author, text, created) VALUES (?, ?, ?)",
               (rng.choice(AUTHORS), " ".join(words), 1_780_000_000.0 + index * 61.5))
db.commit()
db.close()
