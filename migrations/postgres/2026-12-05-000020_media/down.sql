DROP TABLE media_images;
