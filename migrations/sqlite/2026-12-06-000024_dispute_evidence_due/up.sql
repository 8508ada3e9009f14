-- When the provider wants the platform's evidence for a dispute (its
-- evidence_details.due_by): the console lists open disputes by it, soonest first.
-- Empty for disputes read before it was kept, and when the provider gives none.
ALTER TABLE disputes ADD COLUMN evidence_due_by TIMESTAMP;
