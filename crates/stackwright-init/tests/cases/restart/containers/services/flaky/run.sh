if [ ! -f "$ROOT/tmp/flaky.once" ]; then
  mkdir -p "$ROOT/tmp" && touch "$ROOT/tmp/flaky.once"
  echo crashing
  exit 2
fi
echo second life
