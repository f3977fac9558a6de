"""Personal data that can be erased from a log that is never edited (R-PRV, docs/privacy.md).

`master_key`: the master key, outside the database, and the store's record of it.
`cipher`: per-customer data keys, sealing (AES-GCM), domains' refs, and revealing to
entitled readers. `recorder`: the event store's recorder, which destroys a customer's
key in the transaction that stores `customer.erased`. `erase`: the erasure the command
line and an API route call. `report`: what the store holds of a customer, and what of
it is in plain text. `migrate`: a one-off, recorded re-encryption of a store written
before personal data was sealed, into a new store. The composition root wires them.
"""
