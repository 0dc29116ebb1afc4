//! aws-backend against real HTTP: scripted faults (wiremock and a raw TCP
//! server) and moto_server as a stand-in EC2 + S3.

mod adoption;
mod faults;
mod moto;
mod storage;
mod support;
