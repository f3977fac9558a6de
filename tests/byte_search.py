"""Byte searches for personal data (R-PRV-1): every table of a database, every record of
a topic, every file of a PostgreSQL data directory.

A needle is looked for in every form it could be written in: its UTF-8 bytes, its JSON
string escaped to ASCII (`\\u0418...`, as Python's `json` writes it), and its base64
(standard and URL-safe alphabets, at each of the three alignments a base64 stream can
have it at). Tables are read with binary COPY, so text, jsonb and bytea (the event
store's states) are all searched as the bytes PostgreSQL holds, not as a rendering.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from pathlib import Path

import psycopg
from psycopg import sql

from eventlog.topic_reader import read_to_end


def forms(needle: str) -> list[bytes]:
    """Returns the byte strings `needle` may be found as (see the module doc)."""
    raw = needle.encode("utf-8")
    found = {raw, json.dumps(needle).encode("ascii")[1:-1]}
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * shift + raw)
            # the characters whose 6 bits all come from the needle's own bytes
            inner = text[-(-8 * shift // 6):8 * (shift + len(raw)) // 6]
            if len(inner) >= 8:
                found.add(inner)
    return sorted(found)


def hits(blob: bytes, needles: Iterable[str]) -> list[str]:
    """Returns each needle found in `blob`."""
    return [n for n in needles if any(form in blob for form in forms(n))]


def database_hits(database_url: str, needles: list[str]) -> dict[str, list[str]]:
    """Returns {schema.table: needles found} over every ordinary table of the database."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN "
            "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
            "ORDER BY 1, 2").fetchall()
        assert tables, "no tables to search"
        for schema, table in tables:
            blob = bytearray()
            with conn.cursor().copy(sql.SQL("COPY {} TO STDOUT (FORMAT binary)").format(
                    sql.Identifier(schema, table))) as copy:
                for block in copy:
                    blob += block
            if found_here := hits(bytes(blob), needles):
                found[f"{schema}.{table}"] = found_here
    return found


def topic_hits(bootstrap: str, topics: list[str], needles: list[str]) -> dict[str, list[str]]:
    """Returns {topic@partition/offset: needles found} over every record's key, value
    and headers of `topics` (a topic that does not exist holds nothing)."""
    found: dict[str, list[str]] = {}
    for topic in topics:
        for record in _records(bootstrap, topic):
            blob = b"".join([record.key or b"", record.value or b"",
                             *(k.encode() + (v or b"") for k, v in record.headers or ())])
            if found_here := hits(blob, needles):
                found[f"{topic}@{record.partition}/{record.offset}"] = found_here
    return found


def _records(bootstrap: str, topic: str) -> list:
    try:
        return list(read_to_end(bootstrap, topic, 60.0))
    except Exception as e:  # a topic never created (no dead letters) has no records
        if "has no partitions" in str(e):
            return []
        raise


def directory_hits(folder: Path, needles: list[str]) -> dict[str, list[str]]:
    """Returns {file: needles found} over every file under `folder` (a PostgreSQL data
    directory: tables, their free space, the write-ahead log)."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            blob = path.read_bytes()
        except OSError:
            continue  # a file removed while the folder was walked (a recycled segment)
        if found_here := hits(blob, needles):
            found[str(path.relative_to(folder))] = found_here
    return found
