DROP INDEX products_active_created;
