echo bad must not start
