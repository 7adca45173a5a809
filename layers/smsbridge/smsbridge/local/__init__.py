"""The local stack: the same handlers on one machine, with moto standing in for AWS (``smsbridge serve``)."""
