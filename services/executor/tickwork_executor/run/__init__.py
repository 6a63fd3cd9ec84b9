"""Run: a claimed run's task executed under its lease (the built-ins, their guards)."""
