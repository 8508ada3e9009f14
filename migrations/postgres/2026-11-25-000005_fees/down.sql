DROP TRIGGER fee_rule_fixed_amounts_no_update_delete ON fee_rule_fixed_amounts;
DROP TRIGGER fee_rule_versions_no_update_delete ON fee_rule_versions;
DROP FUNCTION fee_rule_versions_immutable();
DROP TABLE fee_rule_fixed_amounts;
DROP TABLE fee_rule_versions;
DROP TABLE fee_rules;
