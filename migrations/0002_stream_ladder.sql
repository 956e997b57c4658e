-- A stream's own ladder settings as JSON; NULL means the server's defaults.
ALTER TABLE streams ADD COLUMN ladder TEXT;
