// Placeholder; the chat client.
