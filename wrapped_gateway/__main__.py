from wrapped_gateway.cli import console

console()
