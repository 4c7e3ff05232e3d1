package postgres_test

// childEnv, when set, makes the test binary run as a child process of a multi-process test.
const childEnv = "NANGO_POSTGRES_TEST_CHILD"

func childMain() int { return 0 }
