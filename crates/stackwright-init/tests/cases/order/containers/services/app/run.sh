test -f "$ROOT/run/db.ready" && echo app saw db ready
