echo good ran
