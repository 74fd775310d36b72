-- Databases for Handrail next to Temporal's own; runs once, on an empty volume.
CREATE USER handrail WITH PASSWORD 'handrail';
CREATE DATABASE handrail OWNER handrail;
CREATE DATABASE handrail_sandbox OWNER handrail;
