echo db warming up
sleep 0.5
mkdir -p "$ROOT/run" && touch "$ROOT/run/db.ready"
echo db is up
sleep 0.3
