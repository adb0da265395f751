// httpprobe is a separate module on purpose: it is a container health-probe helper
// built only by deploy/docker/*Dockerfile and must not become part of
// github.com/pertitle/pertitle (go.work does not `use` it).
module github.com/pertitle/pertitle/deploy/docker/httpprobe

go 1.26.0
