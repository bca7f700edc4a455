# Messages and events (the outbox and send ledger) arrive with the sending engine.
