echo svc ran
