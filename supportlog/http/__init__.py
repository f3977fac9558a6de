"""The HTTP API (`supportlog serve`): a thin door onto the desk.

Each request is parsed, its principal authenticated (`auth`), its role checked against
`domain.access`, then the desk runs the command or the read models answer, and the
outcome is mapped to a response (`problems` for every refusal). The application is
built by the composition root (`supportlog.bootstrap.System.api`) from `services`.
"""
