sleep 0.2
echo hello from first
echo "to stderr" >&2
