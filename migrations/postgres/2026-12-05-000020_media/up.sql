-- One row per uploaded picture, so every file under media.dir is attributable
-- to the seller who sent it, and a cleanup can find the ones no product uses.
-- `key` is random hex chosen by the server (never a name the client sent);
-- the files are `<key>-<width>w-{320,640,960}.webp`. width and height are the
-- picture's after EXIF orientation; bytes is the upload's size as received.
CREATE TABLE media_images (
    key TEXT PRIMARY KEY NOT NULL,
    owner_user_id TEXT NOT NULL REFERENCES users (id),
    width INTEGER NOT NULL CHECK (width > 0),
    height INTEGER NOT NULL CHECK (height > 0),
    bytes BIGINT NOT NULL CHECK (bytes > 0),
    created_at TIMESTAMP NOT NULL
);
-- A seller's uploads, newest first; and the cleanup's scan by age.
CREATE INDEX media_images_owner ON media_images (owner_user_id, created_at);
