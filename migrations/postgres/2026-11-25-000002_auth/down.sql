DROP TRIGGER audit_log_no_update_delete ON audit_log;
DROP FUNCTION audit_log_append_only();
DROP TABLE audit_log;
DROP TABLE login_failures;
DROP TABLE api_keys;
DROP TABLE sessions;
DROP TABLE users;
