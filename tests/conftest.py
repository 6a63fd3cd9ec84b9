pytest_plugins = ["tests.fixtures.database", "tests.fixtures.amqp", "tests.drills.plugin"]
