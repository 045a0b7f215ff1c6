echo running
exec sleep 60
