DROP TRIGGER fee_rule_fixed_amounts_no_delete;
DROP TRIGGER fee_rule_fixed_amounts_no_update;
DROP TRIGGER fee_rule_versions_no_delete;
DROP TRIGGER fee_rule_versions_no_update;
DROP TABLE fee_rule_fixed_amounts;
DROP TABLE fee_rule_versions;
DROP TABLE fee_rules;
