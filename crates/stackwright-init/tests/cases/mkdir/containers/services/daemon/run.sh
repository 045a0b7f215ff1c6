[ -d "$ROOT/var/lib/daemon" ] && [ -d "$ROOT/run/daemon/state" ] && echo daemon found its directories
