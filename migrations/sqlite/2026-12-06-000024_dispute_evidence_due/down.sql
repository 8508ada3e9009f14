ALTER TABLE disputes DROP COLUMN evidence_due_by;
