echo second ran
