"""Actor runtime: mailboxes, latest-value slots, request/reply, supervision."""
