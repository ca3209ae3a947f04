#!/bin/sh
echo "running $GREETING"
