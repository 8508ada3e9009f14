DROP TABLE event_views;
DROP TABLE events;
