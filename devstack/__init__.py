"""The local stack: DynamoDB Local, the dev JWT issuer, seeding, and the dev server."""
