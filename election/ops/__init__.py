"""Operations: seed-voters, loadtest, results, audit, recount, dlq, open/close."""
