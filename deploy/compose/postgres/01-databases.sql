-- One database per service, owned by the platform's role (docker-compose.yml mounts this file into
-- /docker-entrypoint-initdb.d; it runs once, when the data volume is created).
CREATE DATABASE customer;
CREATE DATABASE ticketing;
CREATE DATABASE campaigns;
CREATE DATABASE analytics;
