"""spark_dao"""
