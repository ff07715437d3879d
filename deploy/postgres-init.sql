-- Run once by the postgres image on an empty volume: MLflow's tracking and registry database beside needcast's.
CREATE DATABASE mlflow OWNER needcast;
