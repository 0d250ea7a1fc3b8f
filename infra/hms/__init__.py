"""hms: the platform's tooling: manifest model, template generator, local runtime and CLI."""
