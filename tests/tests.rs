// integration tests: see tests/*.rs
