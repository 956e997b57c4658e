-- Direct uploads: the client PUTs the parts straight to the S3 bucket through
-- presigned URLs. Their rows in `uploads` record the part size of the layout
-- the URLs were made for; NULL for tus uploads.
ALTER TABLE uploads ADD COLUMN part_size BIGINT;
