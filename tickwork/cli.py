"""Placeholder until the command line lands."""


def main() -> None:
    print("tickwork: services not built yet")
