"""election: a multi-region serverless election on AWS, or on one machine."""

__version__ = "0.1.0"
