DROP TABLE reconciliation_differences;
DROP TABLE reconciliation_reports;
DROP TABLE payout_lines;
ALTER TABLE part_movements DROP COLUMN destination_ref;
DROP INDEX ledger_postings_provider_ref;
ALTER TABLE ledger_postings DROP COLUMN provider_ref;
