"""Storage: the database engine, the models, migrations, citizens and the engine's conversation state."""
