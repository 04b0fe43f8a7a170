/// The package version (asgiref's `__version__`).
public let asgiVersion = "0.1.0"
