"""The single DynamoDB table: definition, keys, PynamoDB base model, transactions, cursors."""
