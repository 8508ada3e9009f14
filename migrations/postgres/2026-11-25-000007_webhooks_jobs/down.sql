DROP TABLE jobs;
DROP TABLE webhook_events;
