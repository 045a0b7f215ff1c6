echo flushing
